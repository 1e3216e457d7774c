package linkmodel

import (
	"math/rand/v2"
	"time"
)

// Linux's TCP retransmission constants, which decide how long a lossy or
// cut link leaves a byte stream waiting and when a connection gives up
// (include/net/tcp.h and the net.ipv4 sysctls' defaults).
const (
	MinRTO         = 200 * time.Millisecond // TCP_RTO_MIN: floor of any retransmission timeout
	MaxRTO         = 120 * time.Second      // TCP_RTO_MAX: cap of the doubling
	InitRTO        = time.Second            // TCP_TIMEOUT_INIT: before any round trip was measured (SYN)
	MaxRetransmits = 15                     // net.ipv4.tcp_retries2: data retransmissions before ETIMEDOUT
	SynRetries     = 6                      // net.ipv4.tcp_syn_retries: SYN retransmissions before connect fails
)

// RetryLimit bounds the retries argument of [StreamDelay] and the count of
// [Backoff], so a caller's mistake cannot make either loop for long. Linux
// caps its retry sysctls at 255 as well.
const RetryLimit = 255

// StreamDraws is how many values [StreamDelay] takes from its generator
// per call, whatever the link conditions and retry limit.
const StreamDraws = 2

// StreamFate is what the link does to one write on a byte stream.
type StreamFate struct {
	// Delay is how long after the write its bytes reach the peer: the
	// one-way latency plus one retransmission timeout per lost
	// transmission. With TimedOut it is instead how long after the write
	// the sender gives up on the connection.
	Delay time.Duration
	// Retransmits counts the transmissions lost before the one that got
	// through (or, with TimedOut, the retransmissions made in vain).
	Retransmits int
	// TimedOut reports that every transmission was lost: the connection
	// fails with ETIMEDOUT after Delay.
	TimedOut bool
}

// StreamDelay draws the fate of one write on a byte stream (hv models a
// TCP connection as two ordered byte streams, not as packets) over link
// conditions l. TCP hides duplication and reordering, so only latency and
// loss apply: the first transmission and every retransmission is lost with
// probability l.Loss, independently, and each loss costs a retransmission
// timeout, which starts at rto (raised to [MinRTO]) and doubles up to
// [MaxRTO], as Linux's does. After retries lost retransmissions (use
// [MaxRetransmits] for data and [SynRetries] with [InitRTO] for a connect;
// at most [RetryLimit]) the stream times out.
//
// StreamDelay takes exactly [StreamDraws] values from r: a latency draw u,
// uniform over l.Latency, and a loss draw v, of which the first k
// transmissions are lost when v < l.Loss^k. That gives each transmission
// its independent chance of loss with a bounded, fixed number of draws, so
// as with [Decide] a change of link conditions never shifts later draws,
// and the powers are plain multiplications, which give the same result on
// every CPU.
//
// The caller keeps the stream in order, as TCP does: a write is not
// delivered before the ones written before it, however short its own
// delay. Partitions are not drawn here; a cut link delivers nothing until
// it heals (see [Partition.Cuts]).
func StreamDelay(r *rand.Rand, l Link, rto time.Duration, retries int) StreamFate {
	uLat, uLoss := r.Float64(), r.Float64()
	retries = min(max(retries, 0), RetryLimit)
	lost := 0
	for p := l.Loss; lost <= retries && uLoss < p; p *= l.Loss {
		lost++
	}
	if lost > retries {
		return StreamFate{Delay: Backoff(rto, retries+1), Retransmits: retries, TimedOut: true}
	}
	return StreamFate{Delay: latency(uLat, l.Latency) + Backoff(rto, lost), Retransmits: lost}
}

// Backoff returns the total of n successive retransmission timeouts that
// start at rto (raised to [MinRTO], cut to [MaxRTO]) and double up to
// [MaxRTO]; n is at most [RetryLimit]+1, the timeouts of a transmission
// and all its retransmissions. Backoff(MinRTO, MaxRetransmits+1) is
// Linux's 924.6 s from a lost segment to ETIMEDOUT, Backoff(InitRTO,
// SynRetries+1) its 127 s for an unanswered connect.
func Backoff(rto time.Duration, n int) time.Duration {
	rto = min(max(rto, MinRTO), MaxRTO)
	var total time.Duration
	for range min(n, RetryLimit+1) {
		total += rto
		rto = min(2*rto, MaxRTO)
	}
	return total
}

// RTO estimates the retransmission timeout Linux settles on for a
// connection whose two directions both have conditions l, to pass to
// [StreamDelay]. Linux takes the smoothed round trip plus four times its
// mean deviation, with that deviation term never below [MinRTO]. A round
// trip is two one-way draws from l.Latency: its mean is Min+Max and its
// mean deviation (Max-Min)/3, the deviation of a triangular distribution.
func RTO(l Link) time.Duration {
	if l.Latency.Max >= MaxRTO { // also keeps the sum below from overflowing
		return MaxRTO
	}
	rtt := l.Latency.Min + l.Latency.Max
	dev := max(4*(l.Latency.Max-l.Latency.Min)/3, MinRTO)
	return min(rtt+dev, MaxRTO)
}
