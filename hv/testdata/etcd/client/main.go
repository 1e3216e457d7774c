// Command client is the workload for the etcd target: it waits until the
// cluster has its members and an agreed leader, writes -keys keys (retrying
// each put until it succeeds), reads every key back with linearizable reads
// and prints a summary that depends only on the data, never on timing,
// member IDs or which node leads, so a native run and a run under hv can be
// compared line for line.
//
// Progress and retries go to stderr; stdout carries only the summary. The
// exit code is 0 when every key read back has the value written, 1 otherwise.
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

const prefix = "mvrun/"

func main() {
	endpoints := flag.String("endpoints", "127.0.0.1:2379", "comma-separated client URLs or host:port of the etcd members")
	keys := flag.Int("keys", 100, "number of keys to put and read back")
	members := flag.Int("members", 3, "number of members to wait for")
	timeout := flag.Duration("timeout", 60*time.Second, "deadline for the whole workload")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, strings.Split(*endpoints, ","), *members, *keys); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, endpoints []string, members, keys int) error {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Context:     ctx,
		// The client library's own logging mentions addresses and timings;
		// keep it off so stderr stays readable and stdout stays the summary.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return fmt.Errorf("new client: %w", err)
	}
	defer cli.Close()

	names, err := waitCluster(ctx, cli, endpoints, members)
	if err != nil {
		return err
	}
	fmt.Printf("members %d: %s\n", len(names), strings.Join(names, " "))
	fmt.Println("leader agreed by all endpoints")

	retries := 0
	for i := range keys {
		n, err := retry(ctx, func(ctx context.Context) error {
			_, err := cli.Put(ctx, key(i), value(i))
			return err
		})
		retries += n
		if err != nil {
			return fmt.Errorf("put %s: %w", key(i), err)
		}
	}
	if retries > 0 {
		fmt.Fprintf(os.Stderr, "client: %d put retries\n", retries)
	}
	fmt.Printf("put %d keys\n", keys)

	// One linearizable Get per key (clientv3's default consistency), then a
	// linearizable range over the prefix: both must see every write.
	bad := 0
	for i := range keys {
		var got *clientv3.GetResponse
		if _, err := retry(ctx, func(ctx context.Context) error {
			var err error
			got, err = cli.Get(ctx, key(i))
			return err
		}); err != nil {
			return fmt.Errorf("get %s: %w", key(i), err)
		}
		if len(got.Kvs) != 1 || string(got.Kvs[0].Value) != value(i) {
			bad++
			fmt.Fprintf(os.Stderr, "client: %s read %d values, want %q\n", key(i), len(got.Kvs), value(i))
		}
	}
	fmt.Printf("get %d keys: %d match\n", keys, keys-bad)

	var all *clientv3.GetResponse
	if _, err := retry(ctx, func(ctx context.Context) error {
		var err error
		all, err = cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
		return err
	}); err != nil {
		return fmt.Errorf("range %s: %w", prefix, err)
	}
	h := sha256.New()
	for _, kv := range all.Kvs {
		fmt.Fprintf(h, "%s=%s\n", kv.Key, kv.Value)
	}
	fmt.Printf("range %s: %d keys, sha256 %x\n", prefix, len(all.Kvs), h.Sum(nil)[:8])
	if bad > 0 || len(all.Kvs) != keys {
		return errors.New("read back differs from what was written")
	}
	fmt.Println("ok")
	return nil
}

// waitCluster polls until the member list has want members and every
// endpoint reports the same, non-zero leader, and returns the sorted member
// names.
func waitCluster(ctx context.Context, cli *clientv3.Client, endpoints []string, want int) ([]string, error) {
	var last error
	for {
		names, err := clusterReady(ctx, cli, endpoints, want)
		if err == nil {
			return names, nil
		}
		if !errors.Is(err, errNotReady) || last == nil || err.Error() != last.Error() {
			fmt.Fprintln(os.Stderr, "client: waiting for the cluster:", err)
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster not ready: %w (last: %w)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var errNotReady = errors.New("cluster not ready")

func clusterReady(ctx context.Context, cli *clientv3.Client, endpoints []string, want int) ([]string, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ml, err := cli.MemberList(cctx)
	if err != nil {
		return nil, fmt.Errorf("member list: %w", err)
	}
	var names []string
	for _, m := range ml.Members {
		if m.Name == "" {
			return nil, fmt.Errorf("%w: member %x has not started", errNotReady, m.ID)
		}
		names = append(names, m.Name)
	}
	if len(names) != want {
		return nil, fmt.Errorf("%w: %d members, want %d", errNotReady, len(names), want)
	}
	sort.Strings(names)
	var leader uint64
	for _, ep := range endpoints {
		st, err := cli.Status(cctx, ep)
		if err != nil {
			return nil, fmt.Errorf("status %s: %w", ep, err)
		}
		if st.Leader == 0 {
			return nil, fmt.Errorf("%w: %s has no leader", errNotReady, ep)
		}
		if leader != 0 && st.Leader != leader {
			return nil, fmt.Errorf("%w: endpoints disagree on the leader", errNotReady)
		}
		leader = st.Leader
	}
	return names, nil
}

// retry calls f with a per-attempt deadline until it succeeds or ctx ends,
// and returns how many attempts failed. A put that timed out may still have
// been applied; putting the same value again is harmless, which is why the
// summary never prints revisions.
func retry(ctx context.Context, f func(context.Context) error) (int, error) {
	for failed := 0; ; failed++ {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f(actx)
		cancel()
		if err == nil {
			return failed, nil
		}
		select {
		case <-ctx.Done():
			return failed, fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func key(i int) string   { return fmt.Sprintf("%skey-%04d", prefix, i) }
func value(i int) string { return fmt.Sprintf("value-%04d", i) }
