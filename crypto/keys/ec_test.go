//lint:file-ignore SA1019 the test checks the curve arithmetic that brainpool keys rely on.

package keys

import (
	"math/big"
	"testing"
)

func TestBrainpoolP320Params(t *testing.T) {
	c := brainpoolP320r1()
	p := c.Params()
	if !c.IsOnCurve(p.Gx, p.Gy) {
		t.Fatal("G not on brainpoolP320r1")
	}
	if !p.P.ProbablyPrime(20) || !p.N.ProbablyPrime(20) {
		t.Fatal("p or n not prime")
	}
	// n·G is the identity, (n-1)·G = -G
	x, y := c.ScalarBaseMult(p.N.Bytes())
	if x.Sign() != 0 || y.Sign() != 0 {
		t.Fatal("n·G is not the identity")
	}
	x, y = c.ScalarBaseMult(new(big.Int).Sub(p.N, big.NewInt(1)).Bytes())
	if x.Cmp(p.Gx) != 0 || new(big.Int).Add(y, p.Gy).Cmp(p.P) != 0 {
		t.Fatal("(n-1)·G is not -G")
	}
	// y² = x³ + a·x + b with RFC 5639's a for P320r1
	a, _ := new(big.Int).SetString("3EE30B568FBAB0F883CCEBD46D3F3BB8A2A73513F5EB79DA66190EB085FFA9F492F375A97D860EB4", 16)
	lhs := new(big.Int).Exp(p.Gy, big.NewInt(2), p.P)
	rhs := new(big.Int).Exp(p.Gx, big.NewInt(3), p.P)
	rhs.Add(rhs, new(big.Int).Mul(a, p.Gx)).Add(rhs, p.B).Mod(rhs, p.P)
	if lhs.Cmp(rhs) != 0 {
		t.Fatal("G does not satisfy the r1 equation")
	}
}
