package logging

import (
	"fmt"
	"io"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// New returns a JSON logger writing to w at the given level (debug, info,
// warn, error). logr's V(1) maps to debug. The returned sync function
// flushes buffered entries.
func New(level string, w io.Writer) (logr.Logger, func() error, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return logr.Discard(), nil, fmt.Errorf("log level %q: %w", level, err)
	}
	enc := zapcore.NewJSONEncoder(zapcore.EncoderConfig{
		MessageKey:     "message",
		LevelKey:       "level",
		TimeKey:        "timestamp",
		NameKey:        "logger",
		CallerKey:      "",
		StacktraceKey:  "stacktrace",
		LineEnding:     zapcore.DefaultLineEnding,
		EncodeLevel:    zapcore.LowercaseLevelEncoder,
		EncodeTime:     zapcore.TimeEncoderOfLayout("2006-01-02T15:04:05.000Z07:00"),
		EncodeDuration: zapcore.MillisDurationEncoder,
	})
	core := zapcore.NewCore(enc, zapcore.AddSync(w), lvl)
	zl := zap.New(core, zap.AddStacktrace(zapcore.DPanicLevel))
	return zapr.NewLogger(zl), zl.Sync, nil
}
