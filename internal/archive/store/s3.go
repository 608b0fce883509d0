package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

type s3Store struct {
	uri    URI
	client *s3.Client
	tuning Tuning
}

func openS3(ctx context.Context, u URI, c Credentials) (*s3Store, error) {
	region := c.AWSRegion
	if region == "" {
		region = "us-east-1"
	}
	opts := s3.Options{
		Region:      region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(c.AWSAccessKeyID, c.AWSSecretAccessKey, "")),
		// S3-compatible stores often lack the newer default checksums; the payload is still
		// covered by the SigV4 payload hash.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		RetryMaxAttempts:           5,
	}
	if c.AWSEndpoint != "" {
		ep := c.AWSEndpoint
		if !strings.Contains(ep, "://") {
			ep = "https://" + ep
		}
		opts.BaseEndpoint = aws.String(strings.TrimRight(ep, "/"))
		opts.UsePathStyle = true
	}
	if c.AWSEndpoint == "" || strings.HasPrefix(aws.ToString(opts.BaseEndpoint), "https://") {
		// TLS already protects the payload: hashing every part for the signature as well
		// would cost a SHA-256 pass over everything archived, on the database's host.
		opts.APIOptions = append(opts.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
	}
	s := &s3Store{uri: u, client: s3.New(opts), tuning: DefaultTuning}
	if err := s.ensureBucket(ctx, region); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *s3Store) String() string { return describe(s.uri) }

func (s *s3Store) key(name string) string { return keyPrefix(s.uri) + name }

func (s *s3Store) ensureBucket(ctx context.Context, region string) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.uri.Bucket)})
	if err == nil {
		return nil
	}
	err = s3Err(err)
	if errors.Is(err, ErrAuth) {
		// Keys limited to objects under a prefix may not look at the bucket itself; Check tells
		// whether they can do what the archive needs.
		return nil
	}
	if !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("bucket %s: %w", s.uri.Bucket, err)
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(s.uri.Bucket)}
	if region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(region)}
	}
	if _, err := s.client.CreateBucket(ctx, in); err != nil {
		var owned *types.BucketAlreadyOwnedByYou
		if errors.As(err, &owned) {
			return nil
		}
		return fmt.Errorf("create bucket %s: %w", s.uri.Bucket, s3Err(err))
	}
	return nil
}

// s3Err maps the service's answers to ErrNotFound and ErrAuth, keeping the original text.
func s3Err(err error) error {
	if err == nil {
		return nil
	}
	var re *awshttp.ResponseError
	status := 0
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	code := ""
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	switch {
	case code == "NoSuchBucket":
		// Never ErrNotFound: a vanished bucket must not look like a missing WAL segment.
		return fmt.Errorf("bucket does not exist: %w", err)
	case status == http.StatusNotFound || code == "NoSuchKey" || code == "NotFound":
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch":
		return fmt.Errorf("%w: check aws_access_key_id and aws_secret_access_key: %v", ErrAuth, err)
	case code == "AccessDenied" || status == http.StatusForbidden:
		return fmt.Errorf("%w: access denied: check aws_access_key_id, aws_secret_access_key and the bucket's policy: %v", ErrAuth, err)
	}
	return err
}

func (s *s3Store) Put(ctx context.Context, name string, r io.Reader) error {
	if err := checkName(name); err != nil {
		return err
	}
	key := s.key(name)
	var (
		uploadID string
		mu       sync.Mutex
		parts    []types.CompletedPart
	)
	up := partUploader{
		tuning: s.tuning,
		// S3 allows 10,000 parts of at most 5 GiB: growing the part size every 1,000 parts keeps
		// small objects cheap and still reaches terabytes.
		growEvery: 1000,
		maxPart:   5 << 30,
		single: func(ctx context.Context, data []byte) error {
			_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String(s.uri.Bucket), Key: aws.String(key),
				Body: bytesReader(data), ContentLength: aws.Int64(int64(len(data))),
			})
			return s3Err(err)
		},
		begin: func(ctx context.Context) error {
			out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
				Bucket: aws.String(s.uri.Bucket), Key: aws.String(key),
			})
			if err != nil {
				return s3Err(err)
			}
			uploadID = aws.ToString(out.UploadId)
			return nil
		},
		upload: func(ctx context.Context, n int, data []byte) error {
			out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
				Bucket: aws.String(s.uri.Bucket), Key: aws.String(key), UploadId: aws.String(uploadID),
				PartNumber: aws.Int32(int32(n)), Body: bytesReader(data), ContentLength: aws.Int64(int64(len(data))),
			})
			if err != nil {
				return s3Err(err)
			}
			mu.Lock()
			parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(n))})
			mu.Unlock()
			return nil
		},
	}
	n, err := up.run(ctx, r)
	if err == nil && n > 0 && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err == nil && n > 0 {
		sort.Slice(parts, func(i, j int) bool { return *parts[i].PartNumber < *parts[j].PartNumber })
		_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: aws.String(s.uri.Bucket), Key: aws.String(key), UploadId: aws.String(uploadID),
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		})
		err = s3Err(err)
	}
	if err != nil && uploadID != "" {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		_, _ = s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(s.uri.Bucket), Key: aws.String(key), UploadId: aws.String(uploadID),
		})
		cancel()
	}
	if err != nil {
		return fmt.Errorf("put %s/%s: %w", s.uri, name, err)
	}
	return nil
}

func (s *s3Store) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.uri.Bucket), Key: aws.String(s.key(name))})
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", s.uri, name, s3Err(err))
	}
	return out.Body, nil
}

func (s *s3Store) Stat(ctx context.Context, name string) (Object, error) {
	if err := checkName(name); err != nil {
		return Object{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.uri.Bucket), Key: aws.String(s.key(name))})
	if err != nil {
		return Object{}, fmt.Errorf("stat %s/%s: %w", s.uri, name, s3Err(err))
	}
	return Object{Name: name, Size: aws.ToInt64(out.ContentLength), Modified: aws.ToTime(out.LastModified)}, nil
}

func (s *s3Store) List(ctx context.Context, prefix string) ([]Object, error) {
	base := keyPrefix(s.uri)
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.uri.Bucket), Prefix: aws.String(base + prefix),
	})
	var objs []Object
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s/%s: %w", s.uri, prefix, s3Err(err))
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if !strings.HasPrefix(key, base) || strings.HasSuffix(key, "/") {
				continue
			}
			objs = append(objs, Object{Name: key[len(base):], Size: aws.ToInt64(o.Size), Modified: aws.ToTime(o.LastModified)})
		}
	}
	return sortObjects(objs), nil
}

func (s *s3Store) Delete(ctx context.Context, names ...string) error {
	for len(names) > 0 {
		batch := names[:min(len(names), 1000)]
		names = names[len(batch):]
		ids := make([]types.ObjectIdentifier, 0, len(batch))
		for _, n := range batch {
			if err := checkName(n); err != nil {
				return err
			}
			ids = append(ids, types.ObjectIdentifier{Key: aws.String(s.key(n))})
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(s.uri.Bucket),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("delete from %s: %w", s.uri, s3Err(err))
		}
		for _, e := range out.Errors {
			if aws.ToString(e.Code) == "NoSuchKey" {
				continue
			}
			return fmt.Errorf("delete %s from %s: %s: %s", aws.ToString(e.Key), s.uri, aws.ToString(e.Code), aws.ToString(e.Message))
		}
	}
	return nil
}

func (s *s3Store) setTuning(t Tuning) { s.tuning = t }
