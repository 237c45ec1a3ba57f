package web

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch/store"
)

// chartDays is the overview chart's span.
const chartDays = 90

// The chart's geometry, in SVG user units.
const (
	chartWidth  = 900
	chartHeight = 220
	chartLeft   = 40 // room for the y labels
	chartBottom = 20 // room for the x labels
	chartTop    = 8
	maxSeries   = 8 // more are folded into "other"
)

// chartCacheTTL bounds how stale the chart's past days may be: notices
// arrive today, so only a reparse (or a clock change) alters a past day.
const chartCacheTTL = time.Hour

// chartCache keeps the counts of the chart's days before today: counting
// three months of notices takes the better part of a second on a large
// store, counting today's a few milliseconds.
type chartCache struct {
	mu       sync.Mutex
	from, to time.Time // the days cached, [from, to)
	fetched  time.Time
	counts   []store.DayCount
}

// past returns the counts of [from, to), from the cache while it holds that
// range and is younger than chartCacheTTL. The caller must not modify them.
func (c *chartCache) past(ctx context.Context, st Store, from, to, now time.Time) ([]store.DayCount, error) {
	c.mu.Lock()
	defer c.mu.Unlock() // held while counting, so that one request counts and the others wait
	if c.from.Equal(from) && c.to.Equal(to) && now.Sub(c.fetched) < chartCacheTTL && !now.Before(c.fetched) {
		return c.counts, nil
	}
	counts, err := st.NoticesPerDay(ctx, from, to)
	if err != nil {
		return nil, err
	}
	c.from, c.to, c.fetched, c.counts = from, to, now, counts
	return counts, nil
}

// palette is colour-blind friendly (Okabe–Ito), the last for "other".
var palette = []string{"#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000", "#999999"}

// chart is a stacked bar chart of notices per day, drawn by the template as
// SVG: no script, nothing fetched.
type chart struct {
	Width, Height int
	Bars          []bar
	Legend        []legendItem
	YLabels       []axisLabel
	XLabels       []axisLabel
	Max           int
	Total         int
	PlotLeft      int
	PlotBottom    int
}

type bar struct {
	X, Y, W, H float64
	Color      string
	Title      string
}

type legendItem struct {
	Name, Color string
	Total       int
}

type axisLabel struct {
	X, Y float64
	Text string
}

// newChart stacks counts per day (from since, chartDays days) by the series
// key gives; the largest series get their own colour.
func newChart(since time.Time, counts []store.DayCount, key func(store.DayCount) string) chart {
	totals := map[string]int{}
	for _, c := range counts {
		totals[key(c)] += c.Notices
	}
	names := make([]string, 0, len(totals))
	for n := range totals {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if totals[names[i]] != totals[names[j]] {
			return totals[names[i]] > totals[names[j]]
		}
		return names[i] < names[j]
	})
	series := map[string]int{} // name → index in the legend
	var legend []legendItem
	for i, n := range names {
		label := n
		if label == "" {
			label = "(none)"
		}
		if i < maxSeries {
			series[n] = len(legend)
			legend = append(legend, legendItem{Name: label, Color: palette[i], Total: totals[n]})
			continue
		}
		if len(legend) == maxSeries {
			legend = append(legend, legendItem{Name: "other", Color: palette[maxSeries]})
		}
		series[n] = maxSeries
		legend[maxSeries].Total += totals[n]
	}

	perDay := make([][]int, chartDays)
	for i := range perDay {
		perDay[i] = make([]int, len(legend))
	}
	ch := chart{Width: chartWidth, Height: chartHeight, Legend: legend, PlotLeft: chartLeft, PlotBottom: chartHeight - chartBottom}
	for _, c := range counts {
		d := int(c.Day.Sub(since) / (24 * time.Hour))
		if d < 0 || d >= chartDays {
			continue
		}
		perDay[d][series[key(c)]] += c.Notices
		ch.Total += c.Notices
	}
	for _, day := range perDay {
		sum := 0
		for _, n := range day {
			sum += n
		}
		ch.Max = max(ch.Max, sum)
	}
	top := niceCeil(ch.Max)
	plotH := float64(chartHeight - chartBottom - chartTop)
	slot := float64(chartWidth-chartLeft) / chartDays
	for d, day := range perDay {
		y := float64(chartHeight - chartBottom)
		date := since.AddDate(0, 0, d).Format("2006-01-02")
		for s, n := range day {
			if n == 0 {
				continue
			}
			h := plotH * float64(n) / float64(top)
			y -= h
			ch.Bars = append(ch.Bars, bar{
				X: float64(chartLeft) + float64(d)*slot + 1, Y: y, W: slot - 2, H: h,
				Color: legend[s].Color, Title: fmt.Sprintf("%s %s: %d", date, legend[s].Name, n),
			})
		}
		if d%15 == 0 {
			ch.XLabels = append(ch.XLabels, axisLabel{X: float64(chartLeft) + float64(d)*slot, Y: chartHeight - 4, Text: date[5:]})
		}
	}
	for _, v := range []int{0, top / 2, top} {
		ch.YLabels = append(ch.YLabels, axisLabel{X: chartLeft - 4, Y: float64(chartHeight-chartBottom) - plotH*float64(v)/float64(top) + 4, Text: fmt.Sprint(v)})
	}
	return ch
}

// niceCeil rounds a maximum up to 1, 2 or 5 times a power of ten (at least
// 2, so that the middle label is a whole number).
func niceCeil(n int) int {
	if n <= 2 {
		return 2
	}
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			if m*p >= n && m*p%2 == 0 {
				return m * p
			}
		}
	}
}
