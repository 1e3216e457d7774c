test "keys" {
  compose = "keys.compose.yaml"
  workload {
    first "x" {
      service = "a"
      command = ["/a"]
    }
  }
}
