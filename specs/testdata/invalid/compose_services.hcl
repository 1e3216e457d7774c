test "bank" {
  compose = "replicas.compose.yaml"

  workload {
    first "init" {
      service = "kv"
      command = ["/bin/client"]
    }
  }
}
