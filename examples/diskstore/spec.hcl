# mvrun spec for the diskstore example: two shards under failed fsyncs,
# lost unsynced writes and slow disks, killed and restarted while a client
# writes; the checker then reads back every acknowledged write. With
# DS_FSYNC=ignore this finds acknowledged writes that were never durable.
test "diskstore" {
  compose  = "docker-compose.yaml"
  duration = "15s"
  seeds    = 4

  workload {
    parallel_driver "write" {
      service   = "client"
      command   = ["/bin/client", "write", "30"]
      instances = 2
    }
    finally "check" {
      service = "client"
      command = ["/bin/client", "check"]
    }
  }

  faults {
    swarm = false
    disk {
      services    = ["shard1", "shard2"]
      kinds       = ["fsync_error", "lose_unsynced", "slow"]
      every       = "2s"
      duration    = "1s..3s"
      probability = 0.5
      latency     = "1ms..20ms"
    }
    kill {
      services      = ["shard1", "shard2"]
      every         = "3s"
      restart_after = "200ms..1s"
    }
  }
}
