export {
  describeTransport,
  type ConformanceCapabilities,
  type ConformanceFactoryOptions,
  type DescribeTransportOptions,
} from './suite.js';
