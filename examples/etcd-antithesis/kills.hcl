# spec.hcl with servers killed and restarted as well. A restarted etcd
# v3.7.3 sometimes panics under ETCD_VERIFY=all with "consistent_index
# isn't equal to snapshot index": its bbolt backend was ahead of its WAL's
# HardState.commit when it was killed (etcd-io/etcd#20426, open upstream;
# Antithesis finds it too). Expect "no node crashed unexpectedly" to fail in
# some seeds.
test "etcd-kills" {
  compose  = "docker-compose.yaml"
  backend  = "process"
  duration = "40s"
  seeds    = 4
  seed_timeout = "5m"

  workload {
    templates = "/opt/antithesis/test/v1"
    service   = "client"
  }

  faults {
    partition {
      every      = "6s"
      kinds      = ["halves", "isolate"]
      heal_after = "1s..4s"
    }
    kill {
      services      = ["etcd0", "etcd1", "etcd2"]
      every         = "10s"
      restart_after = "1s..3s"
    }
    pause {
      services = ["etcd0", "etcd1", "etcd2"]
      every    = "8s"
      duration = "500ms..2s"
    }
  }
}
