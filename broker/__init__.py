"""The broker side: Mosquitto configuration, password and ACL files, process helpers and the
`broker config` command. Standard library and protocol/ only, so a broker-only Pi needs
nothing else."""
