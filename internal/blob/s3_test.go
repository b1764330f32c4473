package blob_test

import (
	"context"
	"testing"

	"slokeeper/internal/blob"
	"slokeeper/internal/blob/blobtest"
)

func TestS3(t *testing.T) {
	s, err := blob.OpenS3(context.Background(), blobtest.S3Server(t))
	if err != nil {
		t.Fatal(err)
	}
	runConformance(t, s)
}

func TestOpenS3Errors(t *testing.T) {
	for _, bad := range []string{"http://host/bucket", "s3:///bucket", "s3://host/"} {
		if _, err := blob.OpenS3(context.Background(), bad); err == nil {
			t.Errorf("OpenS3(%q) succeeded", bad)
		}
	}
}
