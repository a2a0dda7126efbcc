package kubernetes

import (
	"slices"
	"strings"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// Image pull failures come in two kinds, and only one of them means the image is missing:
//
//   - final: the reference cannot name an image (InvalidImageName), the node may not pull it
//     (ErrImageNeverPull), or the registry answered that the image or repository does not
//     exist or may not be read (not found, manifest unknown, pull access denied), or the
//     registry's name does not resolve at all (NXDOMAIN, "no such host");
//   - transient: the registry or the way to it failed for now (timeouts, connection
//     refused or reset, 429 Too Many Requests, 5xx, RegistryUnavailable). The kubelet keeps
//     retrying these, so the instance is Pending, not Failed, and is not ErrImageMissing.
//
// A pull error whose message says neither is taken as transient: the kubelet keeps trying,
// and a wrong ErrImageMissing would end the instantiation of an app whose image exists.

// imageMissingReasons are container waiting reasons that always mean the image cannot be had.
var imageMissingReasons = []string{"InvalidImageName", "ErrImageNeverPull"}

// imagePullReasons are container waiting reasons of a pull that failed, for a cause the
// message tells.
var imagePullReasons = []string{"ErrImagePull", "ImagePullBackOff", "ImageInspectError", "RegistryUnavailable"}

// imageMissingWords are the words of a registry answer that the image is not there (or not
// for us), in containerd, CRI-O and Docker messages, lower case.
var imageMissingWords = []string{
	"not found", "manifest unknown", "name unknown", "repository does not exist", "pull access denied",
	"no such host", "unauthorized", "denied: ", "invalid reference format", "no matching manifest",
}

// imageTransientWords win over imageMissingWords: a registry that failed may say more
// ("503 Service Unavailable: blob not found in cache"). Status codes are matched by their
// phrases, since bare digits also occur in image digests.
var imageTransientWords = []string{
	"too many requests", "toomanyrequests", "rate limit", "timeout", "timed out", "deadline exceeded",
	"connection refused", "connection reset", "temporary failure", "try again", "service unavailable",
	"bad gateway", "gateway time", "internal server error", "server misbehaving", "unexpected eof",
	"tls handshake", "network is unreachable", "no route to host",
}

// ImagePullError classifies a container waiting reason and its message: vim.ErrImageMissing
// for a pull that cannot succeed, nil for one that may succeed on a later try (and for
// reasons that are not about the image at all); image reports whether the reason is about
// the image. kubevirt uses it for a VM's containerDisk.
func ImagePullError(reason, message string) (err error, image bool) {
	switch {
	case slices.Contains(imageMissingReasons, reason):
		return vim.ErrImageMissing, true
	case !slices.Contains(imagePullReasons, reason):
		return nil, false
	case reason == "RegistryUnavailable":
		return nil, true
	}
	m := strings.ToLower(message)
	if slices.ContainsFunc(imageTransientWords, func(w string) bool { return strings.Contains(m, w) }) {
		return nil, true
	}
	if slices.ContainsFunc(imageMissingWords, func(w string) bool { return strings.Contains(m, w) }) {
		return vim.ErrImageMissing, true
	}
	return nil, true
}
