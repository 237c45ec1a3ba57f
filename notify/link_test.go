package notify

import (
	"strings"
	"testing"
	"text/template"
)

// TestRenderIncidentLink: with http.public_url the message links to the
// incident's dashboard page, in every chat service's escaping, and a
// template can use the link; without it the CLI command is named.
func TestRenderIncidentLink(t *testing.T) {
	ev := Event{Kind: IncidentOpened, IncidentID: 42, Severity: "block", Provider: "ovh", IP: "51.91.10.20", Case: "<http://evil.example|x>"}
	for _, svc := range chatServices {
		t.Run(svc, func(t *testing.T) {
			c := renderer(t, svc)
			c.publicURL = "https://abusewatch.example.net"
			text, err := c.Render(ev)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text, "incident 42: https://abusewatch.example.net/incidents/42") {
				t.Errorf("no link to the incident in %q", text)
			}
			if strings.Contains(text, "http://evil.example") {
				t.Errorf("the mail's link survived in %q", text)
			}
		})
	}
	c := renderer(t, "generic://hooks.example.net/abuse")
	if text, _ := c.Render(ev); !strings.Contains(text, "incident 42: abusewatch incidents show 42") || strings.Contains(text, "/incidents/42") {
		t.Errorf("without a public URL: %q", text)
	}
	c.publicURL = "https://abusewatch.example.net/base"
	tmpl, err := template.New("message").Funcs(templateFuncs()).Parse("{{.Link}}")
	if err != nil {
		t.Fatal(err)
	}
	c.tmpl = tmpl
	if text, _ := c.Render(ev); text != "https://abusewatch.example.net/base/incidents/42" {
		t.Errorf("template link %q", text)
	}
}
