"""Collections a repository needs: requirements files and fully qualified uses (no ansible
program runs: the installed set is given)."""

from __future__ import annotations

from pathlib import Path

from remediator.content import requirement_problems, usage_problems

REQUIREMENTS = """---
collections:
  - name: acme.ops
    version: ">=1.2.0,<2.0.0"
  - community.general
  - name: https://github.com/acme/tools.git
    type: git
  - name: ansible.posix
    version: "1.5.4"
roles:
  - name: geerlingguy.nginx
"""


def test_requirements_missing_and_out_of_range(tmp_path: Path) -> None:
    """A missing collection and one outside its range are named with file and line; a git
    requirement (a location, not a name) and a satisfied one are not."""
    path = tmp_path / "requirements.yml"
    path.write_text(REQUIREMENTS, encoding="utf-8")
    problems = requirement_problems([path], {"acme.ops": "2.1.0", "ansible.posix": "1.5.4"},
                                    tmp_path)
    assert problems == [
        "requirements.yml:3: collection acme.ops is 2.1.0, the requirement is >=1.2.0,<2.0.0; "
        "install it with `ansible-galaxy collection install -r requirements.yml`",
        "requirements.yml:5: collection community.general (*) is not installed where "
        "ansible.cfg's collections_path looks; install it with `ansible-galaxy collection "
        "install -r requirements.yml`",
    ]
    assert requirement_problems([path], {"acme.ops": "1.9.9", "ansible.posix": "1.5.4",
                                         "community.general": "9.0.0"}, tmp_path) == []


def test_uses_of_missing_collections_by_line(tmp_path: Path) -> None:
    """Modules, filters, tests and lookups of a collection that is not installed are named
    once per file at their first line; dotted variables and installed ones are not."""
    tasks = tmp_path / "roles" / "r" / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "main.yml").write_text(
        "- name: drain\n"
        "  acme.ops.drain:\n"
        "    score: \"{{ load | acme.ops.load_score }}\"\n"
        "  when: ansible_facts.default_ipv4.address is defined\n"
        "- ansible.builtin.debug:\n"
        "    msg: \"{{ lookup('community.hashi_vault.hashi_vault', 'x') }}\"\n"
        "- ansible.posix.sysctl: {name: x, value: 1}\n"
        "  when: item is community.general.a_module\n",
        encoding="utf-8")
    problems = usage_problems([tmp_path / "roles"], {"ansible.posix": "1.5.4"}, tmp_path)
    assert [p.split(": uses ")[0] + ": " + p.split(" from collection ")[1].split(",")[0]
            for p in problems] == [
        "roles/r/tasks/main.yml:2: acme.ops",
        "roles/r/tasks/main.yml:6: community.hashi_vault",
        "roles/r/tasks/main.yml:8: community.general",
    ]
