#!/bin/sh
# The vault password, as Ansible asks an executable vault_password_file for it: printed on
# stdout. A real repository reads it from a secret store and never commits it; this example
# reads $EXAMPLE_VAULT_PASSWORD, with the example's own password as the fallback.
printf '%s\n' "${EXAMPLE_VAULT_PASSWORD:-remediator-example-vault}"
