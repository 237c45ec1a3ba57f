package parser

import (
	"reflect"
	"testing"
)

func TestHeadedTable(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []Event
	}{
		{"aligned, a value of two words",
			"Hello,\n\nDateTime              Action  AttackClass        SourceIP       Srcport  Protocol  DestinationIP   DestPort\n" +
				"2025-10-11T02:13:44Z  Blocked Web Attack         23.88.40.61    51234    TCP       91.198.174.10   443\n" +
				"2025-10-11T02:14:02Z  Blocked SQL Injection      23.88.40.61    51302    TCP       91.198.174.11   443\n\nKind regards\n",
			[]Event{
				{Time: "2025-10-11T02:13:44Z", Src: "23.88.40.61:51234", Dst: "91.198.174.10:443", Proto: "tcp", Reason: "Web Attack"},
				{Time: "2025-10-11T02:14:02Z", Src: "23.88.40.61:51302", Dst: "91.198.174.11:443", Proto: "tcp", Reason: "SQL Injection"},
			}},
		{"headers of two words, a rule, date and time apart",
			"Date        Time      Source IP      Source Port  Destination IP  Destination Port\n" +
				"----------  --------  -------------  -----------  --------------  ----------------\n" +
				"2026-03-01  10:00:01  192.0.2.44     40001        198.51.100.2    3389\n",
			[]Event{{Time: "2026-03-01T10:00:01Z", Src: "192.0.2.44:40001", Dst: "198.51.100.2:3389"}}},
		{"tabbed cells of any width",
			"timestamp\tsrc_ip\tsrc_port\tdst_ip\tdst_port\tproto\n" +
				"2026-03-02T08:00:00Z\t2001:db8::7\t5353\t203.0.113.9\t5353\tudp\n",
			[]Event{{Time: "2026-03-02T08:00:00Z", Src: "[2001:db8::7]:5353", Dst: "203.0.113.9:5353", Proto: "udp"}}},
		{"rows end at the first line that is none",
			"Source       Target        Type\n192.0.2.1    198.51.100.1  scan\nsee the attached file for 192.0.2.9\n192.0.2.2    198.51.100.2  scan\n",
			[]Event{{Src: "192.0.2.1", Dst: "198.51.100.1", Reason: "scan"}}},
		{"a row without a source address is not read",
			"Time                  Source          Destination\n2026-01-01T00:00:00Z  unknown         198.51.100.1\n",
			nil},
		{"prose that names columns is no header",
			"The source and the destination of the traffic, with the time:\nlog 192.0.2.1 an a  198.51.100.1\n",
			nil},
		{"a repeated column is no header",
			"Source  Source  Destination\n192.0.2.1  192.0.2.2  198.51.100.1\n",
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := headedTable(tt.text); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("headedTable =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}
