# Every block and attribute a spec can have.
test "bank" {
  compose      = "full.compose.yaml"
  backend      = "process"
  duration     = "1m30s"
  seeds        = 200
  seed_timeout = "10m"

  workload {
    first "init" {
      service = "client"
      command = ["/bin/client", "init"]
      env     = { ACCOUNTS = "10" }
      timeout = "30s"
    }
    parallel_driver "transfer" {
      service   = "client"
      command   = ["/bin/client", "transfer"]
      instances = 4
    }
    serial_driver "rebalance" {
      service = "client"
      command = ["/bin/client", "rebalance"]
    }
    singleton_driver "migrate" {
      service = "client"
      command = ["/bin/client", "migrate"]
    }
    anytime "audit" {
      service = "bank1"
      command = ["/bin/server", "audit"]
    }
    eventually "converge" {
      service = "client"
      command = ["/bin/client", "wait-converged"]
    }
    finally "check" {
      service = "client"
      command = ["/bin/client", "check"]
    }
  }

  faults {
    swarm = false
    quiet = "5s"

    partition {
      every      = "10s"
      kinds      = ["halves", "isolate", "bridge"]
      heal_after = "1s..8s"
      one_way    = true
      services   = ["bank1", "bank2", "db"]
    }
    link {
      latency   = "1ms..20ms"
      loss      = 0.05
      duplicate = 0.01
      reorder   = 0.1
      every     = "15s"
      services  = ["bank1", "bank2"]
    }
    kill {
      services      = ["bank1", "bank2"]
      every         = "20s"
      restart_after = "0s..5s"
    }
    pause {
      services = ["bank1", "bank2", "db"]
      every    = "30s"
      duration = "1s..4s"
    }
    clock_skew {
      services   = ["bank2"]
      max_offset = "30s"
      jumps      = true
      every      = "12s"
    }
    disk {
      services    = ["bank1", "bank2"]
      kinds       = ["fsync_error", "lose_unsynced", "slow"]
      every       = "8s"
      duration    = "500ms..3s"
      probability = 0.5
      latency     = "5ms..50ms"
    }
  }

  check "accounts" {
    model   = "kv"
    timeout = "20s"
  }
  check "audit-log" {
    model   = "queue"
    history = "audit"
  }

  explore {
    budget      = 400
    burst       = "2s"
    width       = 3
    probe       = "4s"
    arms        = ["kill", "partition"]
    exploration = 0.5
    rarity      = 1
    unmet       = 3
    guidance    = 0
    coverage    = 0.5
  }
}
