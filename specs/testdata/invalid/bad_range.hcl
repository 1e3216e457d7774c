test "bank" {
  compose = "compose.yaml"

  workload {
    first "init" {
      service = "client"
      command = ["/bin/client"]
    }
  }

  faults {
    partition {
      heal_after = "8s..1s"
      kinds      = ["halves", "triangle"]
    }
    kill {
      restart_after = "soon"
    }
    pause {
      duration = "0s"
    }
    link {
      latency = "-1ms..5ms"
    }
  }
}
