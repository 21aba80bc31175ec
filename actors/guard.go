package actors

import (
	"fmt"
	"runtime/debug"
)

// contained runs f and, if it panics, calls onPanic with a description before re-raising
// the panic so that supervision sees it and counts it. onPanic must make sure the session
// concerned gets its verdict.
func contained(counters *Counters, f func(), onPanic func(desc string)) {
	defer func() {
		if r := recover(); r != nil {
			counters.Panics.Add(1)
			desc := fmt.Sprint(r)
			func() {
				defer func() { _ = recover() }() // a failing handler must not mask the first panic
				onPanic(desc)
			}()
			panic(fmt.Sprintf("%s\n%s", desc, debug.Stack()))
		}
	}()
	f()
}
