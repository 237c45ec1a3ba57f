package store

import (
	"reflect"
	"testing"
)

func TestDiffNotices(t *testing.T) {
	a := noticeRow{provider: "ovh", kind: "attack", attack: "syn_flood", ip: "51.91.10.20", severity: 3}
	aBlock := a
	aBlock.kind, aBlock.severity = "block", 4
	aOtherIP := a
	aOtherIP.ip = "51.91.10.21"
	aOtherCase := a
	aOtherCase.caseID = "518908:22"
	b := noticeRow{provider: "hetzner", kind: "complaint", ip: "138.201.172.5", severity: 2}
	tests := []struct {
		name       string
		olds, news []noticeRow
		want       []noticeStep
	}{
		{"nothing", nil, nil, []noticeStep{}},
		{"unchanged", []noticeRow{a, b}, []noticeRow{a, b},
			[]noticeStep{{opKeep, 0, 0}, {opKeep, 1, 1}}},
		{"new kind on the same IP updates in place", []noticeRow{a}, []noticeRow{aBlock},
			[]noticeStep{{opUpdate, 0, 0}}},
		{"another IP correlates afresh", []noticeRow{a}, []noticeRow{aOtherIP},
			[]noticeStep{{opReattach, 0, 0}}},
		{"a case found now correlates afresh", []noticeRow{a}, []noticeRow{aOtherCase},
			[]noticeStep{{opReattach, 0, 0}}},
		{"a notice more", []noticeRow{a}, []noticeRow{a, b},
			[]noticeStep{{opKeep, 0, 0}, {opInsert, -1, 1}}},
		{"notices fewer", []noticeRow{a, b, aOtherIP}, []noticeRow{a},
			[]noticeStep{{opKeep, 0, 0}, {opDelete, 1, -1}, {opDelete, 2, -1}}},
		{"first mail that parses", nil, []noticeRow{b},
			[]noticeStep{{opInsert, -1, 0}}},
		{"no longer a notice", []noticeRow{b}, nil,
			[]noticeStep{{opDelete, 0, -1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := diffNotices(tt.olds, tt.news); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("diffNotices = %v, want %v", got, tt.want)
			}
		})
	}
}
