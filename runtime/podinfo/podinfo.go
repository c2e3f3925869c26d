// Package podinfo reads a pod's annotations from a downward API volume,
// where the kubelet keeps them up to date, and follows one annotation:
// the rebalance order the operator writes on a hot pod.
package podinfo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/fleetwire/fleetwire/runtime/hub"
)

// RebalanceAnnotation holds the operator's order for the pod, as JSON:
// {"target":12,"perSecond":5,"until":"2026-12-01T10:00:00Z"}.
const RebalanceAnnotation = "realtime.fleetwire.io/rebalance"

// ParseAnnotations parses the downward API's annotations file: one
// key="value" per line, the value quoted as Go quotes strings.
func ParseAnnotations(b []byte) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		key, quoted, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: no key=value", n)
		}
		v, err := strconv.Unquote(quoted)
		if err != nil {
			return nil, fmt.Errorf("line %d (%s): value not quoted: %w", n, key, err)
		}
		out[key] = v
	}
	return out, sc.Err()
}

// Orders is what FollowOrders drives.
type Orders interface {
	Rebalance(hub.RebalanceOrder) error
	StopRebalance()
}

// FollowOrders reads file every interval until ctx ends, and hands each
// new rebalance order to h; when the annotation goes, it withdraws the
// order. A missing file means no order. A file or order it cannot read
// is logged once per distinct problem and changes nothing.
func FollowOrders(ctx context.Context, file string, interval time.Duration, h Orders, log logr.Logger) {
	var last, lastProblem string
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		raw, problem := readOrder(file)
		switch {
		case problem != "":
			if problem != lastProblem {
				log.Info("rebalance order not read", "file", file, "problem", problem)
			}
		case raw == last:
		case raw == "":
			h.StopRebalance()
			log.Info("rebalance order withdrawn")
		default:
			if err := applyOrder(raw, h); err != nil {
				problem = err.Error()
				if problem != lastProblem {
					log.Info("rebalance order refused", "order", raw, "problem", problem)
				}
			}
		}
		lastProblem = problem
		if problem == "" {
			last = raw
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// readOrder returns the annotation's value, empty when there is none.
func readOrder(file string) (string, string) {
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return "", ""
	}
	if err != nil {
		return "", err.Error()
	}
	ann, err := ParseAnnotations(b)
	if err != nil {
		return "", err.Error()
	}
	return ann[RebalanceAnnotation], ""
}

func applyOrder(raw string, h Orders) error {
	var o hub.RebalanceOrder
	// Fields a newer operator adds are ignored, so that an operator
	// upgraded before its pods still drives them.
	if err := json.NewDecoder(strings.NewReader(raw)).Decode(&o); err != nil {
		return fmt.Errorf("not a rebalance order: %w", err)
	}
	if !o.Until.After(time.Now()) {
		h.StopRebalance() // lapsed: it replaces any order in force
		return nil
	}
	return h.Rebalance(o)
}
