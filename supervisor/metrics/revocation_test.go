package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mdocgate/mdocgate/crypto/trust"
	"github.com/mdocgate/mdocgate/internal/testpki"
)

// The revocation families read a real status client at scrape time: counters by kind,
// and per list its age and whether it is usable.
func TestRevocationCollector(t *testing.T) {
	pki := testpki.New(t, testpki.Options{})
	sc := &trust.StatusClient{Offline: true}
	crl := pki.CRL(t, pki.DS.Certificate)
	if err := sc.SetOffline(nil, []trust.OfflineFile{{Name: "iaca.crl", Data: crl}, {Name: "iaca.crl", Data: crl}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Certificate(pki.DS.Certificate, pki.IACA.Certificate); err == nil {
		t.Fatal("revoked DS passed")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewRevocationCollector(sc))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err) // two files of one name must not make duplicate series
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			got[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = v
		}
	}
	for k, want := range map[string]float64{
		"mdocgate_revocation_cache_hits_total{kind=crl}":             1,
		"mdocgate_revocation_cache_hits_total{kind=status_list}":     0,
		"mdocgate_revocation_fetches_total{kind=crl}":                0,
		"mdocgate_revocation_list_usable{kind=crl,uri=iaca.crl}":     1,
		"mdocgate_revocation_fetch_failures_total{kind=status_list}": 0,
		"mdocgate_revocation_fail_open_total{kind=crl}":              0,
		"mdocgate_revocation_stale_answers_total{kind=crl}":          0,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}
	if age, ok := got["mdocgate_revocation_list_age_seconds{kind=crl,uri=iaca.crl}"]; !ok || age < 0 || age > float64(time.Minute/time.Second) {
		t.Errorf("list age %v %v", age, ok)
	}
}
