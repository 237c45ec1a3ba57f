package store

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/abusewatch/abusewatch/internal/testserver"
)

// The store's tests run on SQLite, and on PostgreSQL with
// ABUSEWATCH_TEST_STORE=postgres (scripts/test-store-drivers.sh runs both):
// openTest then gives each test a fresh database on one throwaway cluster.
// Tests of what only one driver has (SQLite's files and pragmas) skip on the
// other with onlySQLite.

// testPG is the package's cluster, started by the first test that needs it
// and stopped by TestMain.
var testPG struct {
	once sync.Once
	p    *testserver.Postgres
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testPG.p != nil {
		testPG.p.Stop()
	}
	os.Exit(code)
}

func testOnPostgres() bool { return os.Getenv("ABUSEWATCH_TEST_STORE") == "postgres" }

// pgCluster returns the shared cluster, ending the test when PostgreSQL is
// missing (a failure under CI=true).
func pgCluster(t testing.TB) *testserver.Postgres {
	t.Helper()
	testserver.RequirePostgres(t)
	testPG.once.Do(func() { testPG.p, testPG.err = testserver.NewPostgres() })
	if testPG.err != nil {
		t.Fatal(testPG.err)
	}
	return testPG.p
}

// newPGDatabase returns the DSN of a fresh, empty database.
func newPGDatabase(t testing.TB) string {
	t.Helper()
	return pgCluster(t).NewDB(t)
}

// openAt opens the store at loc (a file path on SQLite, a DSN on PostgreSQL).
func openAt(t testing.TB, loc string, opts ...OpenOption) (*Store, error) {
	t.Helper()
	if testOnPostgres() {
		return OpenPostgres(context.Background(), loc, t.TempDir(), opts...)
	}
	return Open(context.Background(), loc, opts...)
}

// newTestLocation returns where a fresh store of the tested driver goes.
func newTestLocation(t testing.TB) string {
	t.Helper()
	if testOnPostgres() {
		return newPGDatabase(t)
	}
	return t.TempDir() + "/abusewatch.db"
}

// onlySQLite skips a test of SQLite's own behaviour when the suite runs on
// PostgreSQL.
func onlySQLite(t testing.TB) {
	t.Helper()
	if testOnPostgres() {
		t.Skip("tests SQLite's file or pragmas; the postgres tests cover PostgreSQL's")
	}
}
