import { ContainerModule } from 'inversify';
import { ENGINE_SERVICE, EngineService } from './engine-service.js';

/** Binds the engine's services into the runtime's container. */
export const engineModule = new ContainerModule(({ bind }) => {
  bind(ENGINE_SERVICE).to(EngineService).inSingletonScope();
});
