"""Pipeline components: each module holds one executor and its ``Component`` definition."""
