"""Google Cloud: Vertex AI requests and the two halves of an execution around a remote job."""
