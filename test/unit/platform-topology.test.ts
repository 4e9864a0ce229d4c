import { describe, expect, it } from 'vitest';
import { platformServices } from '../../platform/contracts/index.js';
import { platformModules } from '../../platform/services/index.js';

// The modules the host runs must publish what the topology `datasync check` verifies says.
describe('platform modules and the declared topology', () => {
  it('has a module for every declared service but the external storefront, and no other', () => {
    const declared = platformServices.map((service) => service.name).filter((name) => name !== 'storefront').sort();
    expect(platformModules.map((module) => module.name).sort()).toEqual(declared);
  });

  it('gives each module the topics its declaration publishes', () => {
    for (const module of platformModules) {
      const declared = platformServices.find((service) => service.name === module.name)!;
      expect(module.publishes.map((topic) => topic.name).sort(), module.name).toEqual(declared.publishes.map((topic) => topic.name).sort());
    }
  });
});
