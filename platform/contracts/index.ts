/**
 * Every topic of the reference platform, declared once with its schema, owner and audience
 * (DESIGN.md section 3). Services import topic constants from here, so a misspelt topic is
 * a compile error.
 */
import { ContractRegistry } from 'datasync/core';
import { catalogTopics } from './catalog.js';

export * from './catalog.js';

/** All topics of the platform, looked up by name (a topic declared twice fails here). */
export const platformContracts = new ContractRegistry([...catalogTopics]);
