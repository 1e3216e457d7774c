# No compose attribute (compose.yaml next to the spec is used), no backend,
# duration or seeds, and fault blocks with every attribute left to its default.
test "defaults" {
  workload {
    parallel_driver "load" {
      service = "a"
      command = ["/bin/load"]
    }
  }

  faults {
    partition {}
    kill {}
    pause {}
    clock_skew {
      max_offset = "2s"
    }
    link {
      loss = 0.5
    }
  }
}
