test "bank" {
  compose = "binaries.compose.yaml"

  workload {
    first "init" {
      service = "nobin"
      command = ["/bin/client"]
    }
  }
}
