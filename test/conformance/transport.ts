// The suite lives in the package (datasync/transports/conformance) so third-party transports can run it too.
export * from '../../src/transports/conformance/index.js';
