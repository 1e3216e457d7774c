// Package network gives every node of a cluster its own Linux network
// namespace and joins the namespaces with a userspace Ethernet switch that
// injects seeded network faults.
//
// Each node gets a TAP device whose file descriptor the switch (this
// process) holds; the device itself lives in the node's namespace. One
// goroutine per device reads the frames the node sends and forwards them by
// destination MAC address, broadcast and multicast (ARP) to every node the
// sender may reach. For every frame and destination the switch decides, from
// a stream derived from the run's seed, whether a partition or packet loss
// drops it, whether it is duplicated, and how long it is delayed or held
// back so that later frames overtake it; those draws and the partition
// rules are the link model (internal/linkmodel) that hv's network shares.
// Delayed frames wait in a timer queue. The kernels mvrun runs on have neither netem nor nfqueue, so this is
// how packet-level faults stay both possible and seeded.
//
// The process backend makes a fresh namespace per node with
// [Network.AddNode]; the docker backend adds a device to each container's
// existing namespace with [Network.AttachNode]. [Network.Close] removes
// everything a Network made. TAP devices vanish with the process that holds
// them, but namespaces are bind-mounted files that outlive a killed runner:
// [Sweep] removes them at the start of the next run.
//
// Everything here needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN).
package network
