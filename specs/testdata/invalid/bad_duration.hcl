test "bank" {
  compose      = "compose.yaml"
  duration     = "60"
  seed_timeout = "-1s"

  workload {
    first "init" {
      service = "client"
      command = ["/bin/client"]
      timeout = 30
    }
  }

  faults {
    quiet = "soon"
  }
}
