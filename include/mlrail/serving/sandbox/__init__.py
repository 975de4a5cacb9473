"""Sandbox validation: the candidate and the blessed model each in their own model server
process, the same requests replayed to both, and a verdict (InfraBlessing) with one reason
per check of the spec's ``sandbox:`` policy.

* ``servers``: starting, waiting for and stopping the server processes (the lifecycle the
  Airflow setup and teardown tasks drive), their memory;
* ``replay``: the requests (logged production traffic, else test-split rows) and the load
  generator that sends them in alternating rounds;
* ``probes``: prediction parity and malformed requests;
* ``verdict``: the pure decision from measurements and policy;
* ``report``: the HTML report stored in the InfraBlessing.
"""
