// Package sample pins the Go scanner's hard cases (src/workspace/scan/go.rs tests truncations).
package sample

import (
	"fmt"
	"io"
)

/* func InBlockComment() {}
 */
const Max = 10

const (
	Red Color = iota
	Green
	Blue; Alpha
)

var (
	table = map[string]int{
		"k": 1,
	}
	raw = `
func InRaw() {}
}`
	r, q = '}', "func InString() {\" }"
)

type Color int

type Shape interface {
	Area() float64
	fmt.Stringer
	~int | ~string
}

type Map[K comparable, V any] struct {
	m map[K]V
}

type (
	A struct{}
	B interface{ M(io.Reader) error }
)

func (m *Map[K, V]) Get(k K) V { return m.m[k] }

func (Color) String() string { return fmt.Sprint(Max) }

func Generic[T any](t T) func() T {
	return func() T { return t }
}
