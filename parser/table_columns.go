package parser

// tableColumns names the columns of a third party's log table by the words
// of its header, compared without case, spaces, dashes, dots or
// underscores ("Source IP", "src_ip", "SourceIP" are one name).
var tableColumns = map[string]tableColumn{
	"datetime": colTime, "date": colTime, "time": colTime, "timestamp": colTime,
	"timeutc": colTime, "datetimeutc": colTime, "firstseen": colTime, "seen": colTime,
	"sourceip": colSrc, "srcip": colSrc, "source": colSrc, "src": colSrc, "sourceaddress": colSrc,
	"srcaddr": colSrc, "attackerip": colSrc, "attacker": colSrc, "offenderip": colSrc,
	"sourceport": colSrcPort, "srcport": colSrcPort, "sport": colSrcPort,
	"destinationip": colDst, "dstip": colDst, "destination": colDst, "dst": colDst, "destip": colDst,
	"targetip": colDst, "target": colDst, "victimip": colDst, "destinationaddress": colDst,
	"destinationport": colDstPort, "destport": colDstPort, "dstport": colDstPort, "dport": colDstPort,
	"targetport": colDstPort,
	"protocol":   colProto, "proto": colProto,
	"attackclass": colReason, "attacktype": colReason, "attack": colReason, "category": colReason,
	"type": colReason, "signature": colReason, "reason": colReason, "event": colReason,
	"bytes": colBytes, "size": colBytes,
}
