// Command liveroom is the one Liveroom binary: `serve` runs the server,
// `admin` manages agent accounts and API keys.
package main

import (
	"fmt"
	"os"
)

const usage = `usage: liveroom <command> [flags]

commands:
  serve    run the server (pages, API, WebSocket) with the embedded store
  admin    manage agent accounts and API keys (run "liveroom admin help")
  help     show this text

Run "liveroom serve -h" for the server's options.
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
