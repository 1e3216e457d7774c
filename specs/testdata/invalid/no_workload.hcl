test "bank" {
  compose = "compose.yaml"
}

test "empty" {
  compose = "compose.yaml"

  workload {
  }
}
