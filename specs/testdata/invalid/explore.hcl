test "bank" {
  compose  = "compose.yaml"
  duration = "10s"

  workload {
    first "init" {
      service = "client"
      command = ["/bin/client"]
    }
  }
  faults {
    kill {
      services = ["client"]
    }
  }
  explore {
    budget      = 0
    burst       = "10s"
    width       = "wide"
    arms        = ["kill", "pause"]
    exploration = 0
    unmet       = "lots"
    guidance    = -0.5
    coverage    = "all"
    probe       = "10s"
  }
  explore {
    burst = "soon"
  }
}
