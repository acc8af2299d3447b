from jobico.component import main
from jobico.ctl.service import CtlService

main("ctl", CtlService)
