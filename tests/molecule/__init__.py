"""Tests that need podman: the molecule scenarios, and the environment they share with the podman tests."""
