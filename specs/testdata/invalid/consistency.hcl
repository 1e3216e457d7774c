test "bank" {
  compose = "undefined.compose.yaml"

  workload {
    first "init" {
      service = "app"
      command = ["/bin/app"]
    }
  }
}
