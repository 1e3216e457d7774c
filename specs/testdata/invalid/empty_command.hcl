test "bank" {
  compose = "compose.yaml"

  workload {
    first "init" {
      service = "client"
      command = []
    }
    finally "check" {
      service = "client"
      command = ["", "check"]
    }
    anytime "missing" {
      service = "client"
    }
  }
}
