// Command liveroom is the one Liveroom binary: `serve` runs the server,
// `admin` manages agent accounts and API keys, `load` simulates users against
// running servers.
package main

import (
	"fmt"
	"os"
)

const usage = `usage: liveroom <command> [flags]

commands:
  serve    run the server (pages, API, WebSocket) with the embedded store
  admin    manage agent accounts and API keys (run "liveroom admin help")
  load     simulate rooms of chatting members against running servers and report
  help     show this text

Run "liveroom serve -h" for the server's options, "liveroom load -h" for the load tool's.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "admin":
		err = admin(os.Args[2:], os.Stdin, os.Stdout)
	case "load":
		err = load(os.Args[2:])
	case "help", "-h", "--help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "liveroom: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "liveroom:", err)
		os.Exit(1)
	}
}
