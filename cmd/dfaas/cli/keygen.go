package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/dfaas-go/dfaas/peer/quic"
)

// runKeygen writes a node key and prints its ID, prints the ID of an
// existing key, or issues a federation certificate for a node ID.
func runKeygen(_ context.Context, args []string, io stdio) error {
	fs := newFlagSet("keygen", io)
	out := fs.String("out", "", "write a new Ed25519 node key (PKCS#8 PEM, mode 0600) to `FILE` and print its node ID")
	show := fs.String("show", "", "print the node ID of the key in `FILE` (also one written by openssl genpkey -algorithm ED25519)")
	issue := fs.String("issue", "", "issue a federation certificate for the node with this `ID` (needs --federation-key and --cert-out)")
	fedKey := fs.String("federation-key", "", "federation key `FILE` that signs the certificate (a key made with --out)")
	certOut := fs.String("cert-out", "", "write the certificate to `FILE`")
	valid := fs.Duration("valid", 365*24*time.Hour, "validity of the certificate from now")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	modes := 0
	for _, s := range []string{*out, *show, *issue} {
		if s != "" {
			modes++
		}
	}
	if modes != 1 {
		return usageError{"keygen: give exactly one of --out, --show and --issue"}
	}
	switch {
	case *out != "":
		k, err := quic.GenerateKey()
		if err != nil {
			return err
		}
		if err := quic.WriteKeyFile(*out, k); err != nil {
			return err
		}
		fmt.Fprintln(io.out, k.ID())
	case *show != "":
		k, err := quic.LoadKey(*show)
		if err != nil {
			return err
		}
		fmt.Fprintln(io.out, k.ID())
	default:
		if *fedKey == "" || *certOut == "" {
			return usageError{"keygen: --issue needs --federation-key and --cert-out"}
		}
		if *valid <= 0 {
			return usageError{fmt.Sprintf("keygen: --valid %v is not positive", *valid)}
		}
		id, err := quic.ParseID(*issue)
		if err != nil {
			return usageError{fmt.Sprintf("keygen: --issue: %v", err)}
		}
		fed, err := quic.LoadKey(*fedKey)
		if err != nil {
			return err
		}
		now := time.Now()
		cert, err := quic.IssueCertificate(fed, id, now.Add(-5*time.Minute), now.Add(*valid))
		if err != nil {
			return err
		}
		if err := os.WriteFile(*certOut, cert, 0o644); err != nil {
			return fmt.Errorf("keygen: %w", err)
		}
		fmt.Fprintf(io.out, "certificate for %s, signed by federation %s, valid until %s, written to %s\n",
			id, fed.ID(), now.Add(*valid).UTC().Format(time.RFC3339), *certOut)
	}
	return nil
}
