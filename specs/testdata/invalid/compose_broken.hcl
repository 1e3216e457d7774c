test "bank" {
  compose = "broken.compose.yaml"

  workload {
    first "init" {
      service = "kv1"
      command = ["/bin/client"]
    }
  }
}
