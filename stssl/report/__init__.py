"""What finished runs show: tables beside the paper's (:mod:`~stssl.report.tables`), curves over
training and over a setting (:mod:`~stssl.report.curves`) and maps of samples (:mod:`~stssl.report.maps`)."""
