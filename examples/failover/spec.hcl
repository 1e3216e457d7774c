# mvrun spec for the failover example: two replicas under kills and
# pauses while a client writes; the check then reads every acknowledged
# write back. Losing one needs a failover and then the new primary out of
# reach just as the old one restarts: independent seeds find it rarely.
test "failover" {
  compose  = "docker-compose.yaml"
  backend  = "hv"
  duration = "8s"
  seeds    = 20

  workload {
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

  explore {
    burst = "1s"
    width = 4
    arms  = ["kill", "pause"]
  }
}
