package live

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// AnswerError is an HTTP answer (through the API server's pod proxy or from
// a probe Job) whose status is not one the reader expects: a 503 from the
// proxy, an API error body. It is never a measurement: the check could not
// judge (ERROR), it did not see the manifests break a promise.
type AnswerError struct {
	Via       string // what was asked: "GET /api/env on pod todo-app/backend-1"
	Want      []int
	Got       int
	FirstLine string // the body's first line, cut short
	// Err is why there was no answer at all (the transport's error, an
	// API call that failed); Got is then 0.
	Err error
}

func (e *AnswerError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: no answer: %v", e.Via, e.Err)
	}
	return fmt.Sprintf("%s: expected status %v, got %d: %s", e.Via, e.Want, e.Got, e.FirstLine)
}

func (e *AnswerError) Unwrap() error { return e.Err }

// NoAnswer is the *AnswerError of a question that got no answer: the check
// could not judge, as for an unexpected status.
func NoAnswer(via string, err error) error {
	return &AnswerError{Via: via, Err: err}
}

// firstLineMax bounds the body's first line in a message.
const firstLineMax = 200

// CheckAnswer returns an *AnswerError unless code is one of want.
func CheckAnswer(via string, code int, body []byte, want ...int) error {
	if slices.Contains(want, code) {
		return nil
	}
	line, _, _ := bytes.Cut(bytes.TrimSpace(body), []byte("\n"))
	if len(line) > firstLineMax {
		line = append(line[:firstLineMax:firstLineMax], "..."...)
	}
	if len(line) == 0 {
		line = []byte("(empty body)")
	}
	return &AnswerError{Via: via, Want: want, Got: code, FirstLine: string(line)}
}

// DecodeAnswer checks the answer's status against want, then decodes its
// JSON body into into: an API error body is never read as the answer.
func DecodeAnswer(via string, code int, body []byte, into any, want ...int) error {
	if err := CheckAnswer(via, code, body, want...); err != nil {
		return err
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("%s: unreadable answer %q: %w", via, body, err)
	}
	return nil
}
