# mvrun spec for the rejoin example: two replicas under kills and pauses
# while a client writes; the check then reads every acknowledged write
# back. Losing one needs a takeover, a write landing during the deposed
# primary's resync, and a second takeover: independent seeds find it
# rarely.
test "rejoin" {
  compose  = "docker-compose.yaml"
  backend  = "hv"
  duration = "8s"
  seeds    = 20

  workload {
    first "load" {
      service = "client"
      command = ["/bin/client", "load", "300"]
    }
    parallel_driver "write" {
      service   = "client"
      command   = ["/bin/client", "write", "20"]
      instances = 1
    }
    finally "check" {
      service = "client"
      command = ["/bin/client", "check"]
    }
  }

  faults {
    kill {
      services      = ["n1", "n2"]
      every         = "4s"
      restart_after = "1500ms..3s"
    }
    pause {
      services = ["n1", "n2"]
      every    = "4s"
      duration = "200ms..1s"
    }
  }

  # The bug's steps are seconds apart (a takeover, the deposed primary's
  # restart and resync, a second takeover): bursts of 2 s and a narrow
  # tree reach the later steps within a small budget. Most schedules
  # that make the first two steps make them in the first seconds of the
  # fault phase, so each fresh schedule is a probe cut two bursts in;
  # only the states it reached run on to the check.
  explore {
    burst = "2s"
    width = 2
    probe = "4s"
    arms  = ["kill", "pause"]
  }
}
