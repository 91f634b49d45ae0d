package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// generatedSuffix stands in for the API server's random generateName suffix, so names are stable.
const generatedSuffix = "cbchk"

// document is one YAML document of a file, as the JSON the API server would receive.
type document struct {
	File       string
	Index      int
	APIVersion string
	Kind       string
	Name       string
	JSON       []byte
}

func (d document) String() string { return fmt.Sprintf("%s/%s", d.Kind, d.Name) }

// readDocuments splits a (multi-document) YAML file; documents holding only comments are skipped.
// An object with only metadata.generateName gets the name the API server would give it.
func readDocuments(path string) ([]document, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs []document
	for i := 0; ; i++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   map[string]any
		}
		if err := json.Unmarshal(js, &head); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		name, _ := head.Metadata["name"].(string)
		if generate, ok := head.Metadata["generateName"].(string); ok && name == "" {
			name = generate + generatedSuffix
			js, err = setName(js, name)
			if err != nil {
				return nil, err
			}
		}
		docs = append(docs, document{File: path, Index: i, APIVersion: head.APIVersion, Kind: head.Kind, Name: name, JSON: js})
	}
}

func setName(js []byte, name string) ([]byte, error) {
	var obj map[string]any
	if err := json.Unmarshal(js, &obj); err != nil {
		return nil, err
	}
	meta, _ := obj["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		obj["metadata"] = meta
	}
	meta["name"] = name
	return json.Marshal(obj)
}
